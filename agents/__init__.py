"""The Faust agents (authorize, settle) and the pure logic they run: state, postings, rules."""
