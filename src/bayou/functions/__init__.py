"""Serverless functions: the registry (control plane), the invoker, and the runtime host."""
