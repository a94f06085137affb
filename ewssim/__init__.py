"""ewssim: cycle-accurate simulator of EWS / MVQ DNN accelerators.

Data flows one way through the sub-packages:
workload -> compress -> (mapping in) dataflow -> engine + hw -> energy/area -> report.
"""

__version__ = "0.1.0"
