"""`python -m connector_accel init DIR --source postgres|sqlserver`: a deployable connector project."""
import argparse
import sys

from connector_accel import project


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector_accel")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write a connector project (connector.py, requirements.txt, "
                                            "configuration.json, README.md) into DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--source", choices=sorted(project.CONFIGURATION), required=True)
    init.add_argument("--force", action="store_true", help="overwrite the project's files if they exist")
    args = parser.parse_args(argv)
    try:
        written = project.init(args.directory, args.source, force=args.force)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
