"""Tools around the product, not part of it: the benchmark, the load test, the scale (cost-curve) script, and
the helpers that start local servers for them and for the tests."""
