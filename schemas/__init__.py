"""paystream's Avro contract: the .avsc files in this folder, shipped as package data.

File names are `<record>.avsc`, or `<record>.v<N>.avsc` when a record has several versions;
the highest version is the one paystream reads into.
"""
