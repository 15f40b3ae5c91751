"""Reports of analysed runs: one Markdown file and one self-contained HTML page."""

from tomoprune.report.build import PaperComparison, write_report

__all__ = ["PaperComparison", "write_report"]
