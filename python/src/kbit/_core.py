"""kbit._core - errors and devices.

Every failed libkbit call becomes a KbitError carrying the status and the
text of kbit_last_error() (read on the same OS thread right after the call:
the message is thread-local in the C library). Each status has its own
subclass, which also derives from the closest built-in exception, so
`except ValueError` catches a refused argument as it would in bitsandbytes.
"""
import ctypes
import threading

from . import _lib
from ._loader import load


class KbitError(RuntimeError):
    """A libkbit call failed. .status is the kbit_status code, .status_name
    its name ("KBIT_EINVAL", ...), .function the C function, .message the
    library's message (kbit_last_error())."""

    def __init__(self, status, message, function=None):
        self.status = status
        self.status_name = _lib.STATUS_NAMES.get(status, "status %d" % status)
        self.message = message
        self.function = function
        text = message or "(no message)"
        super().__init__("%s [%s]" % (text, self.status_name))


class KbitInvalidArgument(KbitError, ValueError):
    pass


class KbitOutOfMemory(KbitError, MemoryError):
    pass


class KbitNotSupported(KbitError, NotImplementedError):
    pass


class KbitNoDevice(KbitError):
    pass


class KbitFormatError(KbitError, ValueError):
    pass


class KbitIOError(KbitError, OSError):
    pass


class KbitDriverError(KbitError):
    pass


class KbitOverflow(KbitError, OverflowError):
    pass


_ERROR_CLASSES = {_lib.EINVAL: KbitInvalidArgument, _lib.ENOMEM: KbitOutOfMemory,
                  _lib.ENOTSUP: KbitNotSupported, _lib.ENODEV: KbitNoDevice,
                  _lib.EFORMAT: KbitFormatError, _lib.EIO: KbitIOError,
                  _lib.EDRIVER: KbitDriverError, _lib.EOVERFLOW: KbitOverflow}


def last_error():
    msg = load().kbit_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status, function=None):
    """Raise the KbitError of a non-zero status (message from kbit_last_error)."""
    if status != _lib.OK:
        cls = _ERROR_CLASSES.get(status, KbitError)
        raise cls(status, last_error(), function)


def call(name, *args):
    """lib.<name>(*args), raising on a non-zero status."""
    check(getattr(load(), name)(*args), name)


# ---------------------------------------------------------------------------
# Devices

class Device:
    """An open kbit device (kbit_device *). Use kbit.device(spec) to get one:
    handles are opened once per spec and kept for the process."""

    def __init__(self, spec):
        lib = load()
        handle = ctypes.c_void_p()
        check(lib.kbit_device_open(spec.encode(), ctypes.byref(handle)), "kbit_device_open")
        self.handle = handle
        self.spec = spec
        self._stream = None
        self._lock = threading.Lock()
        info = _lib.DeviceInfo()
        check(lib.kbit_device_get_info(handle, ctypes.byref(info)), "kbit_device_get_info")
        self.driver = info.driver.decode()
        self.index = info.index
        self.name = info.name.decode()

    @property
    def ptr(self):
        return self.handle.value

    def info(self):
        """A dict of kbit_device_info: driver, name, variant, index, threads, memory_bytes."""
        info = _lib.DeviceInfo()
        check(load().kbit_device_get_info(self.handle, ctypes.byref(info)), "kbit_device_get_info")
        return dict(driver=info.driver.decode(), name=info.name.decode(),
                    variant=info.variant.decode(), index=info.index, threads=info.threads,
                    memory_bytes=info.memory_bytes)

    def set_threads(self, threads):
        """CPU worker threads used by ops on this device (results never depend
        on it). Not while another thread runs an op on this device."""
        check(load().kbit_device_set_threads(self.handle, int(threads)), "kbit_device_set_threads")

    def use_stream(self, stream):
        """Enqueue ops on a framework's native stream (an int pointer; 0 or None =
        the device's own). Done once per change, under the device's lock."""
        stream = stream or None
        if stream == self._stream:
            return
        with self._lock:
            if stream != self._stream:
                check(load().kbit_device_set_stream(self.handle, stream), "kbit_device_set_stream")
                self._stream = stream

    def synchronize(self):
        check(load().kbit_sync(self.handle), "kbit_sync")

    def __repr__(self):
        return "kbit.Device(%r: %s)" % (self.spec, self.name)


_devices = {}
_devices_lock = threading.Lock()


def _canonical(spec):
    spec = str(spec).strip()
    if spec == "cpu":
        return "cpu:0"
    if ":" not in spec and spec != "auto":
        return spec + ":0"
    return spec


def device(spec="cpu"):
    """The kbit device for a spec ("cpu", "cuda:0", "hip:1", "opencl:0", "auto").
    Raises KbitNoDevice (with the library's reason) when there is no such device."""
    key = _canonical(spec)
    d = _devices.get(key)
    if d is not None:
        return d
    with _devices_lock:
        d = _devices.get(key)
        if d is None:
            d = Device(key)
            _devices[key] = d
            if key == "auto":
                _devices.setdefault("%s:%d" % (d.driver, d.index), d)
        return d


def set_threads(threads, spec="cpu"):
    """kbit_device_set_threads on the package's handle of device `spec`."""
    device(spec).set_threads(threads)


def version():
    """The version of the loaded libkbit (kbit_version())."""
    return load().kbit_version().decode()
