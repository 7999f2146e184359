"""The ground floor every process shares: HTTP plumbing, auth, problems, rate limits, logs,
text rules and value domains, settings types, consistency tokens, failpoints. Imports nothing of
the product's other packages."""
