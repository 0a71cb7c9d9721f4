"""In-memory ONNX models for the comparison, encoded by hand.

`pip install onnxruntime` brings no model builder (that is the separate `onnx` package), so the
few ModelProto messages needed here are written directly in the protobuf wire format: varints,
length-delimited fields and little-endian raw tensor data, with the field numbers of onnx.proto3.
"""

import numpy as np

# TensorProto.DataType
FLOAT, INT64, DOUBLE = 1, 7, 11
ELEM_TYPE = {np.dtype(np.float32): FLOAT, np.dtype(np.float64): DOUBLE, np.dtype(np.int64): INT64}
# AttributeProto.AttributeType
ATTR_INT, ATTR_STRING, ATTR_INTS = 2, 3, 7

IR_VERSION = 8  # ONNX 1.10+, read by every onnxruntime of recent years
OPSET = 13


def _varint(value):
    value &= (1 << 64) - 1  # negative int64 as its two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field, wire_type):
    return _varint(field << 3 | wire_type)


def _int(field, value):
    return _key(field, 0) + _varint(value)


def _bytes(field, payload):
    return _key(field, 2) + _varint(len(payload)) + payload


def _str(field, text):
    return _bytes(field, text.encode())


def tensor(name, array):
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9)."""
    array = np.ascontiguousarray(array)
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _int(2, ELEM_TYPE[array.dtype]) + _str(8, name) + _bytes(9, raw)


def attribute(name, value):
    """AttributeProto: name (1), i (3), s (4), ints (8), type (20)."""
    if isinstance(value, str):
        return _str(1, name) + _bytes(4, value.encode()) + _int(20, ATTR_STRING)
    if isinstance(value, (list, tuple)):
        return _str(1, name) + b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)
    return _str(1, name) + _int(3, value) + _int(20, ATTR_INT)


def node(op_type, inputs, outputs, **attributes):
    """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5)."""
    body = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    body += _str(3, f"{op_type}_{outputs[0]}") + _str(4, op_type)
    return body + b"".join(_bytes(5, attribute(k, v)) for k, v in attributes.items())


def value_info(name, dtype, shape):
    """ValueInfoProto name (1), type (2) → TypeProto.tensor_type (1) → elem_type (1), shape (2)."""
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    tensor_type = _int(1, ELEM_TYPE[np.dtype(dtype)]) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes, inputs, outputs, initializers=()):
    """ModelProto: ir_version (1), producer_name (2), graph (7), opset_import (8).

    `inputs` and `outputs` are (name, dtype, shape) triples; `initializers` (name, array) pairs.
    """
    graph = b"".join(_bytes(1, n) for n in nodes) + _str(2, "softmax_compare")
    graph += b"".join(_bytes(5, tensor(name, a)) for name, a in initializers)
    graph += b"".join(_bytes(11, value_info(*i)) for i in inputs)
    graph += b"".join(_bytes(12, value_info(*o)) for o in outputs)
    opset = _str(1, "") + _int(2, OPSET)
    return _int(1, IR_VERSION) + _str(2, "bench/compare.py") + _bytes(7, graph) + _bytes(8, opset)


def build(op, dtype, shape):
    """The model of one operation on (rows, K) arrays of `dtype`, the reduced axis the last.

    Returns (model bytes, inputs, outputs), the last two as (name, dtype, shape) triples.
    Softmax backward and the cross-entropy gradient have no operator outside onnxruntime's
    training builds, so they are composed from standard operators the way an exported graph
    computes them.
    """
    rows, k = shape
    if op == "softmax":
        nodes = [node("Softmax", ["x"], ["y"], axis=-1)]
        ins, outs, inits = [("x", dtype, shape)], [("y", dtype, shape)], []
    elif op == "log_softmax":
        nodes = [node("LogSoftmax", ["x"], ["y"], axis=-1)]
        ins, outs, inits = [("x", dtype, shape)], [("y", dtype, shape)], []
    elif op == "logsumexp":
        nodes = [node("ReduceLogSumExp", ["x"], ["y"], axes=[-1], keepdims=0)]
        ins, outs, inits = [("x", dtype, shape)], [("y", dtype, (rows,))], []
    elif op == "softmax_backward":
        # dx = y ⊙ (dy − Σ dy ⊙ y)
        nodes = [
            node("Mul", ["dy", "y"], ["prod"]),
            node("ReduceSum", ["prod", "axes"], ["dot"], keepdims=1),
            node("Sub", ["dy", "dot"], ["diff"]),
            node("Mul", ["y", "diff"], ["dx"]),
        ]
        ins = [("y", dtype, shape), ("dy", dtype, shape)]
        outs, inits = [("dx", dtype, shape)], [("axes", np.array([-1], np.int64))]
    elif op == "cross_entropy":
        # loss = mean(−log_softmax[t]); grad = (softmax − onehot(t)) / rows
        # (onnxruntime's CPU OneHot has no float64 kernel: the one-hot is cast for float64.)
        onehot = "onehot" if np.dtype(dtype) == np.float32 else "onehot32"
        nodes = [
            node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss", "log_prob"], reduction="mean"),
            node("Exp", ["log_prob"], ["p"]),
            node("OneHot", ["t", "depth", "onehot_values"], [onehot], axis=-1),
            node("Sub", ["p", "onehot"], ["diff"]),
            node("Div", ["diff", "rows"], ["grad"]),
        ]
        if onehot != "onehot":
            nodes.insert(3, node("Cast", [onehot], ["onehot"], to=ELEM_TYPE[np.dtype(dtype)]))
        ins = [("x", dtype, shape), ("t", np.int64, (rows,))]
        outs = [("loss", dtype, ()), ("grad", dtype, shape)]
        inits = [
            ("depth", np.array(k, np.int64)),
            ("onehot_values", np.array([0, 1], np.float32)),
            ("rows", np.array(rows, dtype)),
        ]
    else:
        raise ValueError(f"no ONNX model for {op}")
    return model(nodes, ins, outs, inits), ins, outs
