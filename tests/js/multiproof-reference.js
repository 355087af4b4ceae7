#!/usr/bin/env node
// Reference for the Python multiproofs: reads {"types": [...], "values": [[...], ...], "pick": [indices]}
// on stdin, builds @openzeppelin/merkle-tree's StandardMerkleTree, and prints the root and the
// multiproof of the picked values, with its leaves as leaf hashes (getMultiProof returns values).
'use strict';

const fs = require('fs');
const path = require('path');
const { StandardMerkleTree } = require(path.resolve(__dirname, '..', '..', 'node_modules', '@openzeppelin', 'merkle-tree'));

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const tree = StandardMerkleTree.of(input.values, input.types);
const multiproof = tree.getMultiProof(input.pick);
const out = {
  root: tree.root,
  leaves: multiproof.leaves.map(value => tree.leafHash(value)),
  proof: multiproof.proof,
  proofFlags: multiproof.proofFlags,
  verified: tree.verifyMultiProof(multiproof),
};
process.stdout.write(JSON.stringify(out));
