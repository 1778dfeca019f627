"""Reads epbench results files (HDF5) and writes figures and a report."""
