"""Ahead-of-time planning for TPU pods: topology names, chip tables, analytic FLOPs, AOT compiles."""
