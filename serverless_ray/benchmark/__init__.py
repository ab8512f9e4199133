"""``serverless-ray benchmark``: which memory size and concurrency to pick, measured on
the running platform and priced as SageMaker bills it.

For each configuration of a sweep (memory size x MaxConcurrency x client concurrency,
and provisioned-concurrency scenarios) it creates an endpoint, measures warm calls,
forces cold starts by ending the keep-warm window between rounds, reads the cost meter,
and deletes what it created. The pure parts (:mod:`.requests`, :mod:`.plan`,
:mod:`.stats`, :mod:`.analysis`, :mod:`.svg`) load neither Ray nor boto3.
"""
