"""The compiled recurrences (surnames/recurrences.c) and bootstrap draws (surnames/resample.c):
one library, built on first use, loaded with ctypes.

The C loops run a whole recurrence per call and call the BLAS sgemm_/dgemm_ that libtorch
carries (the products torch.mm runs), so a position's elementwise work costs no dispatch. The
library is built once per machine with the C compiler (`cc`, or $CC) into a cache folder
($SURNAMES_CACHE, else $XDG_CACHE_HOME/names-rnn-lstm or ~/.cache/names-rnn-lstm), named by a
hash of the sources, the flags and the CPU, and checked on a small product before use.
Where it cannot be built or checked (no compiler, a torch without those symbols), or with
SURNAMES_NATIVE=0, `library()` is None and surnames/kernels.py runs its torch loops: the same
values to float rounding, slower (docs/performance.md).
"""
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

SOURCES = [Path(__file__).with_name(name) for name in ("recurrences.c", "recurrences_body.h", "resample.c")]
# No -ffast-math: its start-up code would change the floats of the whole process.
FLAGS = ["-O3", "-march=native", "-fPIC", "-pthread"]
TYPES = {torch.float32: "float", torch.float64: "double"}


def cache_folder() -> Path:
    if os.environ.get("SURNAMES_CACHE"):
        return Path(os.environ["SURNAMES_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "names-rnn-lstm"


def _cpu() -> str:
    """What -march=native compiles for: the CPU's model and flags (Linux), else the machine."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join([line for line in lines if line.startswith(("model name", "flags"))][:2]) or platform.machine()
    except OSError:
        return platform.machine()


def _build(compiler: str, target: Path) -> None:
    """Compile, then link without the compile flags, into a temporary beside `target`, then
    rename: the fold workers may build at the same moment, and none reads a half-written file."""
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        objects, library = [], Path(folder) / target.name
        for source in (path for path in SOURCES if path.suffix == ".c"):
            objects.append(str(Path(folder) / source.with_suffix(".o").name))
            subprocess.run([compiler, *FLAGS, "-c", str(source), "-o", objects[-1]], check=True, capture_output=True)
        subprocess.run([compiler, "-shared", *objects, "-o", str(library), "-lm", "-pthread"], check=True,
                       capture_output=True)
        os.replace(library, target)


def _gemm(name: str) -> int:
    """The address of libtorch's BLAS routine `name` (Fortran interface, 32-bit integers)."""
    folder = Path(torch.__file__).parent / "lib"
    for candidate in sorted(folder.glob("libtorch_cpu.*")):
        try:
            return ctypes.cast(getattr(ctypes.CDLL(str(candidate)), name), ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
    raise OSError(f"torch's libtorch_cpu has no {name}")


def _checked(lib) -> bool:
    """A two-step recurrence through the library equals torch's products (this catches a BLAS
    that takes other integer sizes, or another memory layout)."""
    for dtype in TYPES:
        generator = torch.Generator().manual_seed(0)
        states = torch.randn(4, 5, generator=generator, dtype=dtype)
        weight = torch.randn(5, 3 + 5, generator=generator, dtype=dtype)  # 3 letters, 5 hidden
        expected = torch.cat([states[:2], torch.addmm(states[2:], states[:2], weight[:, 3:].t())])
        linear_forward(states, weight, 3, torch.tensor([[2, 2], [0, 2]]), lib=lib)  # rows 2, 3 += rows 0, 1 x W_h^T
        if not torch.allclose(states, expected):
            return False
    return True


def load(folder: Path):
    """Build the library into `folder` if it is not there yet, load it, hand it libtorch's
    gemm routines and check it; raises OSError or CalledProcessError saying why it cannot."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in SOURCES)
                            + " ".join(FLAGS).encode() + _cpu().encode() + str(compiler).encode()).hexdigest()[:16]
    target = Path(folder) / f"recurrences-{digest}.so"
    if not target.exists():
        if not compiler:
            raise OSError("no C compiler (cc) found")
        target.parent.mkdir(parents=True, exist_ok=True)
        _build(compiler, target)
    lib = ctypes.CDLL(str(target))
    lib.pack.restype = lib.bootstrap_weights.restype = ctypes.c_int64
    lib.set_gemm(ctypes.c_void_p(_gemm("sgemm_")), ctypes.c_void_p(_gemm("dgemm_")))
    if not _checked(lib):
        raise OSError("its products disagree with torch.mm")
    return lib


@functools.cache
def library():
    """The library loaded from cache_folder(), or None (then one warning saying why, once per
    process); None at once with SURNAMES_NATIVE=0."""
    if os.environ.get("SURNAMES_NATIVE") == "0":
        return None
    try:
        return load(cache_folder())
    except (OSError, subprocess.CalledProcessError) as error:
        stderr = getattr(error, "stderr", None)
        cause = stderr.decode(errors="replace").strip().splitlines()[0] if stderr else str(error)
        warnings.warn(f"the compiled recurrences are not used ({cause}); training and prediction run torch's "
                      "loops, slower: install a C compiler (e.g. gcc)", stacklevel=2)
        return None


def usable(*tensors: torch.Tensor) -> bool:
    """The library is loaded and takes these tensors (float32 or float64, on the CPU)."""
    return all(t.dtype in TYPES and t.device.type == "cpu" and t.is_contiguous() for t in tensors) \
        and library() is not None


def _ptr(tensor: torch.Tensor) -> ctypes.c_void_p:
    if not tensor.is_contiguous():
        raise ValueError("the compiled recurrences take contiguous tensors")
    return ctypes.c_void_p(tensor.data_ptr())


def _argument(value):
    return _ptr(value) if isinstance(value, torch.Tensor) else ctypes.c_int64(int(value))


def _call(lib, name: str, dtype, *arguments) -> None:
    getattr(lib or library(), f"{name}_{TYPES[dtype]}")(*(_argument(a) for a in arguments))


def _recurrence(name: str, dtype, index: torch.Tensor, h: int, *arguments, lib=None) -> None:
    """A C recurrence over the packed positions; `index` [2, positions]: each position's running names and start row."""
    getattr(lib or library(), f"{name}_{TYPES[dtype]}")(ctypes.c_int64(index.shape[1]), _ptr(index[0]),
                                                         _ptr(index[1]), ctypes.c_int64(h),
                                                         *(_argument(a) for a in arguments))


def pack(letters: torch.Tensor, consumed: torch.Tensor):
    """kernels._pack's layout: (index [2, positions] of running and starts, packed letters, previous, last)."""
    letters, consumed = (tensor.to(torch.int64).contiguous() for tensor in (letters, consumed))
    rows, names = letters.shape
    index = torch.empty(2, max(rows, 1), dtype=torch.int64)
    packed, previous = torch.empty(rows * names, dtype=torch.int64), torch.empty(rows * names, dtype=torch.int64)
    last, total = torch.empty(names, dtype=torch.int64), torch.zeros(1, dtype=torch.int64)
    longest = library().pack(ctypes.c_int64(rows), ctypes.c_int64(names), *(_ptr(a) for a in (
        letters, consumed, index[0], index[1], packed, previous, last, total)))
    n = int(total)
    index = index[:, :longest].contiguous()
    return index, packed[:n], previous[: n - int(index[0, 0])], last


def inputs(weight, bias, input_size: int, letters) -> torch.Tensor:
    """The letters' pre-activations [N, G]: weight[:, letter] + bias."""
    pre = weight.new_empty(len(letters), weight.shape[0])
    _call(None, "inputs", weight.dtype, len(letters), weight.shape[0], input_size, weight.shape[1] - input_size,
          letters, weight, bias, pre)
    return pre


def weight_grads(grad_pre, states, input_size: int, letters, index):
    """(grad weight [G, input_size + H], grad bias [G]) from the packed pre-activation gradients."""
    g, h = grad_pre.shape[1], states.shape[1]
    grad_weight, grad_bias = grad_pre.new_empty(g, input_size + h), grad_pre.new_empty(g)
    _recurrence("weight_grads", grad_pre.dtype, index, h, g, input_size, letters, grad_pre, states,
                grad_weight, grad_bias)
    return grad_weight, grad_bias


def linear_forward(states, weight, input_size: int, index, lib=None):
    _recurrence("linear_forward", states.dtype, index, states.shape[1], states, weight, input_size, lib=lib)


def linear_backward(grad, weight, input_size: int, index):
    _recurrence("linear_backward", grad.dtype, index, grad.shape[1], grad, weight, input_size)


def tanh_forward(states, weight, input_size: int, index):
    _recurrence("tanh_forward", states.dtype, index, states.shape[1], states, weight, input_size)


def tanh_backward(grad, states, weight, input_size: int, index):
    _recurrence("tanh_backward", grad.dtype, index, grad.shape[1], grad, states, weight, input_size)


def lstm_forward(gates, weight, input_size: int, memories, tanh_memories, states, index, forget: bool,
                 output: bool):
    _recurrence("lstm_forward", gates.dtype, index, memories.shape[1], forget, output, gates, weight,
                input_size, memories, tanh_memories, states)


def lstm_backward(gates, memories, tanh_memories, grad_hidden, grad_memory, grad_pre, weight, input_size: int, index,
                  forget: bool, output: bool):
    _recurrence("lstm_backward", gates.dtype, index, memories.shape[1], forget, output, gates, memories,
                tanh_memories, grad_hidden, grad_memory, grad_pre, weight, input_size)


def bootstrap_weights(key: int, first_draw: int, weights: torch.Tensor, sizes: torch.Tensor, starts: torch.Tensor,
                      group_of_row: torch.Tensor, threads: int = 1) -> None:
    """Fills `weights` [draws, rows] (float64) with the bootstrap's draws from first_draw on
    (surnames/resample.c; sizes, starts: int64 per fold, group_of_row: int64 per row), in
    `threads` threads."""
    failed = library().bootstrap_weights(
        ctypes.c_uint64(key), ctypes.c_int64(first_draw), ctypes.c_int64(weights.shape[0]), ctypes.c_int64(len(sizes)),
        _ptr(sizes), _ptr(starts), ctypes.c_int64(int(sizes.sum())), ctypes.c_int64(weights.shape[1]),
        _ptr(group_of_row), _ptr(weights), ctypes.c_int64(threads))
    if failed:
        raise MemoryError("the bootstrap's counts do not fit in memory")
