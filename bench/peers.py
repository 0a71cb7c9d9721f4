"""The implementations compared, each behind one small interface.

`Peer(threads)` imports its library (raising ImportError when it is not installed) and sets its
thread count; `prepare(op, buffers)` returns `run(i)`, which computes `op` on buffer `i` and
returns its outputs, or None when the library has no way to compute `op`; `to_numpy(outputs)`
copies them out as a tuple of numpy arrays. Outputs are written into preallocated arrays where
the library allows it (softmax_rs `out=`, ONNX Runtime I/O binding, PyTorch `out=`), so that
allocation is not timed; JAX and SciPy allocate their results, as their users get them.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx_models

OPS = ["softmax", "log_softmax", "logsumexp", "softmax_backward", "cross_entropy"]


def _copy_all(outputs):
    return tuple(np.array(o, copy=True) for o in outputs)


class SoftmaxRs:
    """softmax_rs: the library shares each call's work among the threads of rayon's global pool,
    whose size RAYON_NUM_THREADS sets when the pool starts (at the first call that splits work,
    after this constructor); the results are the same bits for any number of threads."""

    name = "softmax_rs"

    def __init__(self, threads):
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        import softmax_rs

        self.lib = softmax_rs
        self.version = f"{softmax_rs.__version__} ({softmax_rs.isa()} kernels)"
        self.pool = None
        self.threads = threads

    def _rows(self, n_rows, work):
        """`work(a, b)` over row chunks, on the pool when there is one; the chunks' results."""
        if self.pool is None:
            return [work(0, n_rows)]
        bounds = np.linspace(0, n_rows, self.threads + 1).astype(int)
        chunks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        return list(self.pool.map(lambda ab: work(*ab), chunks))

    def prepare(self, op, buffers):
        lib = self.lib
        if op in ("softmax", "log_softmax", "logsumexp"):
            fn = getattr(lib, op)
            outs = [
                np.empty(b["x"].shape[:1] if op == "logsumexp" else b["x"].shape, b["x"].dtype)
                for b in buffers
            ]

            def run(i):
                x, o = buffers[i]["x"], outs[i]
                self._rows(len(x), lambda a, b: fn(x[a:b], out=o[a:b]))
                return (o,)

        elif op == "softmax_backward":
            outs = [np.empty_like(b["y"]) for b in buffers]

            def run(i):
                y, dy, o = buffers[i]["y"], buffers[i]["dy"], outs[i]
                self._rows(len(y), lambda a, b: lib.softmax_backward(y[a:b], dy[a:b], out=o[a:b]))
                return (o,)

        elif op == "cross_entropy" and self.pool is None:

            def run(i):
                return lib.cross_entropy(buffers[i]["x"], buffers[i]["t"], return_grad=True)

        elif op == "cross_entropy":
            grads = [np.empty_like(b["x"]) for b in buffers]

            def run(i):
                x, t, g = buffers[i]["x"], buffers[i]["t"], grads[i]
                n = len(x)

                def chunk(a, b):
                    # Summed over the chunk; the mean's division is a power of two here (exact).
                    loss, grad = lib.cross_entropy(x[a:b], t[a:b], reduction="sum", return_grad=True)
                    np.divide(grad, n, out=g[a:b])
                    return float(loss)

                return np.asarray(math.fsum(self._rows(n, chunk)) / n, x.dtype), g

        else:
            return None
        return run

    to_numpy = staticmethod(_copy_all)


class OnnxRuntime:
    """ONNX Runtime on its CPU provider: one in-memory model per operation and shape, inputs and
    outputs bound to the numpy buffers (I/O binding), so no copies are timed."""

    name = "onnxruntime"

    def __init__(self, threads):
        import onnxruntime as ort

        self.ort = ort
        self.version = ort.__version__
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep rather than spin, so they take no core from the next library.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.options = options

    def prepare(self, op, buffers):
        ort = self.ort
        first = buffers[0]
        main = first["y"] if op == "softmax_backward" else first["x"]
        data, inputs, outputs = onnx_models.build(op, main.dtype, main.shape)
        session = ort.InferenceSession(data, self.options, providers=["CPUExecutionProvider"])
        bindings, results, keep = [], [], []
        for buffer in buffers:
            binding = session.io_binding()
            values = [ort.OrtValue.ortvalue_from_numpy(buffer[name]) for name, _, _ in inputs]
            for (name, _, _), value in zip(inputs, values):
                binding.bind_ortvalue_input(name, value)
            arrays = [np.empty(shape, dtype) for _, dtype, shape in outputs]
            out_values = [ort.OrtValue.ortvalue_from_numpy(a) for a in arrays]
            for (name, _, _), value in zip(outputs, out_values):
                binding.bind_ortvalue_output(name, value)
            bindings.append(binding)
            results.append(tuple(arrays))
            keep.append((values, out_values))  # the OrtValues view the numpy buffers: keep them

        def run(i):
            session.run_with_iobinding(bindings[i])
            return results[i]

        run.keep = keep
        return run

    to_numpy = staticmethod(_copy_all)


class Torch:
    """PyTorch on the CPU: torch.softmax/log_softmax/logsumexp with out=, the softmax backward
    kernel autograd uses (torch._softmax_backward_data), cross-entropy through autograd."""

    name = "torch"

    def __init__(self, threads):
        # OpenMP's idle threads sleep rather than spin (read when torch first starts its pool).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.version = torch.__version__.split("+")[0]

    def prepare(self, op, buffers):
        torch = self.torch
        ins = [{k: torch.from_numpy(v) for k, v in b.items()} for b in buffers]
        if op in ("softmax", "log_softmax"):
            fn = getattr(torch, op)
            outs = [torch.empty_like(b["x"]) for b in ins]
            return lambda i: (fn(ins[i]["x"], -1, out=outs[i]),)
        if op == "logsumexp":
            outs = [torch.empty(b["x"].shape[:1], dtype=b["x"].dtype) for b in ins]
            return lambda i: (torch.logsumexp(ins[i]["x"], -1, out=outs[i]),)
        if op == "softmax_backward":
            outs = [torch.empty_like(b["y"]) for b in ins]

            def run(i):
                y, dy = ins[i]["y"], ins[i]["dy"]
                return (torch._softmax_backward_data(dy, y, -1, y.dtype, grad_input=outs[i]),)

            return run
        if op == "cross_entropy":
            leaves = [b["x"].detach().requires_grad_(True) for b in ins]

            def run(i):
                loss = torch.nn.functional.cross_entropy(leaves[i], ins[i]["t"])
                (grad,) = torch.autograd.grad(loss, leaves[i])
                return loss.detach(), grad

            return run
        return None

    @staticmethod
    def to_numpy(outputs):
        return tuple(o.detach().numpy().copy() for o in outputs)


class Jax:
    """JAX on the CPU, jit-compiled (compilation is excluded by the warm-up call); float64 enabled.
    Threads: XLA_FLAGS intra_op_parallelism_threads, set before JAX is imported."""

    name = "jax"

    def __init__(self, threads):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        eigen = "true" if threads > 1 else "false"
        flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp = jax, jnp
        self.version = jax.__version__

    def prepare(self, op, buffers):
        jax, jnp = self.jax, self.jnp

        def cross_entropy(x, t):
            log_probs = jax.nn.log_softmax(x, axis=-1)
            return -jnp.mean(jnp.take_along_axis(log_probs, t[:, None], axis=-1))

        functions = {
            "softmax": (lambda x: jax.nn.softmax(x, axis=-1), ["x"]),
            "log_softmax": (lambda x: jax.nn.log_softmax(x, axis=-1), ["x"]),
            "logsumexp": (lambda x: jax.nn.logsumexp(x, axis=-1), ["x"]),
            # The rule of jax.nn.softmax's own derivative, on the forward output.
            "softmax_backward": (
                lambda y, dy: y * (dy - jnp.sum(dy * y, axis=-1, keepdims=True)),
                ["y", "dy"],
            ),
            "cross_entropy": (jax.value_and_grad(cross_entropy), ["x", "t"]),
        }
        fn, names = functions[op]
        fn = jax.jit(fn)
        ins = [[jax.device_put(b[name]) for name in names] for b in buffers]

        def run(i):
            result = jax.block_until_ready(fn(*ins[i]))
            return result if isinstance(result, tuple) else (result,)

        return run

    to_numpy = staticmethod(_copy_all)


class SciPy:
    """SciPy's special functions (and numpy for the backward pass and the loss), single-threaded."""

    name = "scipy"

    def __init__(self, threads):
        import scipy
        import scipy.special

        self.special = scipy.special
        self.version = scipy.__version__

    def prepare(self, op, buffers):
        special = self.special
        if op in ("softmax", "log_softmax", "logsumexp"):
            fn = getattr(special, op)
            return lambda i: (fn(buffers[i]["x"], axis=-1),)
        if op == "softmax_backward":

            def run(i):
                y, dy = buffers[i]["y"], buffers[i]["dy"]
                return (y * (dy - np.sum(dy * y, axis=-1, keepdims=True)),)

            return run
        if op == "cross_entropy":

            def run(i):
                x, t = buffers[i]["x"], buffers[i]["t"]
                rows = np.arange(len(x))
                log_probs = special.log_softmax(x, axis=-1)
                loss = -np.mean(log_probs[rows, t])
                grad = np.exp(log_probs)
                grad[rows, t] -= 1
                grad /= len(x)
                return loss, grad

            return run
        return None

    to_numpy = staticmethod(_copy_all)


PEERS = [SoftmaxRs, OnnxRuntime, Torch, Jax, SciPy]
