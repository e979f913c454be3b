"""backends/torchtitan"""
