"""Probes: how jobcheck reads the world — Docker, and the job frameworks' queues."""
