"""Reports of analysed runs: one Markdown file and one self-contained HTML page."""

from tomoprune.analysis.comparison import correlation_comparison
from tomoprune.report.build import write_report

__all__ = ["correlation_comparison", "write_report"]
