"""Reports: console tables (rich) and the JSON report."""

from simulator.report.console import print_results
from simulator.report.json_report import build_report, write_report

__all__ = ["build_report", "print_results", "write_report"]
