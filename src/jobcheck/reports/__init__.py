"""Reporters: terminal (live or plain), JSON, JUnit XML, Markdown, GitHub Actions."""
