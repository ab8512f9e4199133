"""Concurrency quotas: each endpoint's MaxConcurrency and the account's serverless pool.

Slots are tokens. The ledger (one actor) hands them to gateways; a gateway admits an
invocation with a token it holds, so the common case costs no remote call. Tokens come
back when idle, when another gateway needs them, or when a gateway's lease runs out
because it died. The sum of tokens held never exceeds either limit, so neither does the
number of invocations in flight.
"""
