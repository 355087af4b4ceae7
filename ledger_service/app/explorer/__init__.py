"""The block explorer: server-rendered HTML pages over the SQL mirror, with search and SVG charts."""
