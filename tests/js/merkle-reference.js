#!/usr/bin/env node
// Reference for the Python Merkle tree: reads {"types": [...], "values": [[...], ...]} on stdin,
// builds @openzeppelin/merkle-tree's StandardMerkleTree, prints its root, leaf hashes and proofs.
'use strict';

const fs = require('fs');
const path = require('path');
const { StandardMerkleTree } = require(path.resolve(__dirname, '..', '..', 'node_modules', '@openzeppelin', 'merkle-tree'));

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const tree = StandardMerkleTree.of(input.values, input.types);
const out = { root: tree.root, leaves: [], proofs: [] };
for (const [index, value] of tree.entries()) {
  out.leaves[index] = tree.leafHash(value);
  out.proofs[index] = tree.getProof(index);
}
process.stdout.write(JSON.stringify(out));
