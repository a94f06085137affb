"""Workloads: typed layers, topology files, the network zoo."""

from ewssim.workload.activations import (
    ActivationProfile,
    default_activation_profile,
    load_activation_csv,
    load_activation_npz,
    load_activation_profile,
    nnz_per_block,
)
from ewssim.workload.layers import LAYER_KINDS, GemmShape, Layer, Network
from ewssim.workload.topology import load_network, load_topology, parse_topology_text, zoo_names

__all__ = [
    "LAYER_KINDS",
    "ActivationProfile",
    "GemmShape",
    "Layer",
    "Network",
    "default_activation_profile",
    "load_activation_csv",
    "load_activation_npz",
    "load_activation_profile",
    "load_network",
    "load_topology",
    "nnz_per_block",
    "parse_topology_text",
    "zoo_names",
]
