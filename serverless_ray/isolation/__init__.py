"""Holding each replica process to its endpoint's tier.

A replica (a Serve replica, or a standby from the moment it adopts a model) runs under
the :class:`~serverless_ray.messages.ReplicaLimits` of its spec:

* memory and CPU limits: a control group of its own (:mod:`.cgroups`, v2 or v1), or,
  where the node has no writable cgroup hierarchy, an address-space limit
  (:mod:`.address_space`, weaker: see docs/isolation.md);
* a private scratch directory, its ``TMPDIR`` and working directory, capped at the
  endpoint's ephemeral storage (:mod:`.scratch`);
* a deadline for loading its model (:mod:`.watchdog`).

:mod:`.confinement` is what a replica process calls; :mod:`.records` is the node-local
record of every confined replica that the node's entry point reads to tell why a replica
died (:mod:`.verdicts`), to clean up after replicas that were killed (:mod:`.reaper`) and
to report utilization (:mod:`.utilization`).

Run by two kinds of process: the replicas (Serve replicas and standbys) confine
themselves; each node's gateway reads the records (``gateway/replica_upkeep.py``). Of the
package it imports only ``messages`` and ``resources``, and it loads Ray only inside the
functions that ask Ray who the process is.
"""
