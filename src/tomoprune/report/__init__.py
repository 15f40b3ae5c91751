"""Reports of analysed runs: one Markdown file and one self-contained HTML page."""

from tomoprune.report.build import write_report
from tomoprune.reproduce.correlations import correlation_comparison

__all__ = ["correlation_comparison", "write_report"]
