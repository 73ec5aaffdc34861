"""python -m kbit: what `kbit info` prints (version, drivers with the reason
when one was refused or found no device, devices, the CPU variant), plus one
line saying which libkbit the package loaded."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m kbit [info]\nPrints what `kbit info` prints: the version, every "
              "driver found (with the reason when one was refused or has no device), the "
              "devices and the CPU variant in use.")
        return 0
    if argv and argv[0] != "info":
        print("python -m kbit: unknown command %r (try --help)" % argv[0], file=sys.stderr)
        return 2
    from .info import report
    try:
        sys.stdout.write(report())
    except OSError as e:
        print("python -m kbit: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
