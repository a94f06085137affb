"""Workloads: typed layers, topology files, the network zoo."""

from ewssim.workload.layers import LAYER_KINDS, GemmShape, Layer, Network

__all__ = ["LAYER_KINDS", "GemmShape", "Layer", "Network"]
