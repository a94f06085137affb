"""Workloads: typed layers, topology files, the network zoo."""

from ewssim.workload.layers import LAYER_KINDS, GemmShape, Layer, Network
from ewssim.workload.topology import load_network, load_topology, parse_topology_text, zoo_names

__all__ = [
    "LAYER_KINDS",
    "GemmShape",
    "Layer",
    "Network",
    "load_network",
    "load_topology",
    "parse_topology_text",
    "zoo_names",
]
