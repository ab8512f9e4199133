"""Authentication and authorization of every request to the gateway, as AWS does it.

Run by the gateway process (the middleware and what it composes) and by whoever builds
the platform's settings (the credentials file and TLS files are read and checked there).

* :mod:`.credentials`: the credentials file (principals, keys, policies).
* :mod:`.policy`: IAM policy documents and their evaluation (pure).
* :mod:`.sigv4`: Signature Version 4 verification with botocore's own signer.
* :mod:`.operations` / :mod:`.catalog`: which action on which resource a request is.
* :mod:`.model_data`: the fence around local model data.
* :mod:`.authenticator` / :mod:`.middleware`: the check, and the one place it runs.
* :mod:`.tls`: HTTPS for the gateway.
"""
