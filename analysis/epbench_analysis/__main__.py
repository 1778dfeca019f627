"""python3 -m epbench_analysis report RESULTS... -o DIR

RESULTS: epbench results files (evaluate, run or serve) or directories of them (a scaling study).
Writes PNG figures, report.md and report.html into DIR. Exit status 2 on bad input."""
import argparse
import sys

from .report import write_report
from .results import ResultsError, load_study


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m epbench_analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="figures and a report of results files")
    report.add_argument("results", nargs="+", help="results files or directories")
    report.add_argument("-o", "--output", required=True, help="directory for the figures and report")
    args = parser.parse_args(argv)
    try:
        runs, serve, infos = load_study(args.results)
    except ResultsError as e:
        print(f"epbench_analysis: error: {e}", file=sys.stderr)
        return 2
    path = write_report(runs, infos, args.output, serve)
    print(f"report: {path} ({len(runs) + len(serve)} runs from {len(infos)} file(s)); figures and report.html "
          f"beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
