"""Deployment tooling: the local stack (nginx + two services) and the rollout controller.

Downstream of the service; nothing in src/ or app/ imports it.
"""
