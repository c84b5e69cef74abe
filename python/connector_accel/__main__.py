"""`python -m connector_accel init DIR --source postgres|sqlserver|snowflake`: a deployable connector project.
`python -m connector_accel serve [--port 50051] [--source postgres|sqlserver|snowflake]`: the Partner SDK server, in Rust."""
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
    serve = commands.add_parser("serve", help="serve fivetran_sdk.v2.SourceConnector (the Partner SDK) until Ctrl-C; "
                                              "logs are JSON lines on stdout")
    serve.add_argument("--port", type=int, default=50051)
    serve.add_argument("--source", choices=sorted(project.CONFIGURATION), default="postgres",
                       help="the database whose setup form is shown")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args.port, args.source)
    try:
        written = project.init(args.directory, args.source, force=args.force)
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def _serve(port: int, source: str) -> int:
    from connector_accel import _core

    if not _core.HAS_SERVER:
        print("error: this install was built without the Partner SDK server (a first ./scripts/demo.sh leaves it out "
              "to build faster): run ./scripts/build.sh, or install the wheel, which has it", file=sys.stderr)
        return 2
    try:
        _core.serve(port, source)
    except KeyboardInterrupt:
        return 0
    except _core.ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
