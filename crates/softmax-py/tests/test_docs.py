"""Docstrings carry runnable examples, and the type stubs agree with the module."""

import ast
import doctest
import inspect
import pathlib

import numpy as np
import pytest
import softmax_rs
from softmax_rs import _softmax_rs

STUB = pathlib.Path(softmax_rs.__file__).with_name("__init__.pyi")
FUNCTIONS = [name for name in softmax_rs.__all__ if name != "__version__"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_has_a_docstring_with_an_example(name):
    doc = getattr(softmax_rs, name).__doc__
    assert doc and ">>>" in doc, f"{name} has no example"


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(_softmax_rs, globs={"np": np, "softmax_rs": softmax_rs})
    tests += finder.find(softmax_rs, globs={})
    examples = sum(len(t.examples) for t in tests)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert examples >= len(FUNCTIONS) and result.failed == 0


def stub_signatures():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    sigs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            positional = [p.arg for p in a.args]
            defaults = [ast.literal_eval(d) for d in a.defaults]
            kw = {p.arg: ast.literal_eval(d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None}
            required_kw = [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
            sigs.setdefault(node.name, []).append((positional, defaults, kw, required_kw))
    return sigs


@pytest.mark.parametrize("name", FUNCTIONS)
def test_stubs_match_the_runtime_signatures(name):
    runtime = inspect.signature(getattr(softmax_rs, name))
    positional = [p.name for p in runtime.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    defaults = [
        p.default
        for p in runtime.parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty
    ]
    keywords = {p.name: p.default for p in runtime.parameters.values() if p.kind == p.KEYWORD_ONLY}
    variants = stub_signatures()[name]
    for stub_positional, stub_defaults, stub_kw, required_kw in variants:
        assert stub_positional == positional
        assert stub_defaults == defaults
        # Overloads narrow return_grad to a Literal without a default in one variant.
        assert set(stub_kw) | set(required_kw) == set(keywords)
        for k, v in stub_kw.items():
            assert keywords[k] == v, f"{name}: {k} defaults to {keywords[k]!r}, the stub says {v!r}"


def test_the_package_ships_its_typing_marker():
    assert STUB.with_name("py.typed").exists()
