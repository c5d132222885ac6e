"""The type stubs describe the package as it is, and every public name is documented."""

import ast
import inspect
import os

import trackstore

STUBS = os.path.join(os.path.dirname(trackstore.__file__), "__init__.pyi")


def stub_tree():
    with open(STUBS, encoding="utf-8") as f:
        return ast.parse(f.read())


def test_every_public_name_is_in_the_stubs_and_exists():
    tree = stub_tree()
    stubbed = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            stubbed[node.name] = node
        elif isinstance(node, ast.AnnAssign):
            stubbed[node.target.id] = node
    helpers = {"TrackLike", "Duplicates", "StringColumnBuffers", "IntColumnBuffers"}
    public = {n for n in dir(trackstore) if not n.startswith("_")} - {"reference"}
    assert public - set(stubbed) == set(), "public but not stubbed"
    assert set(stubbed) - public - helpers - {"__version__"} == set(), "stubbed but missing"
    for name, node in stubbed.items():
        if isinstance(node, ast.ClassDef) and name not in helpers:
            runtime = getattr(trackstore, name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    assert hasattr(runtime, item.name), f"{name}.{item.name}"
                    if isinstance(item, ast.AsyncFunctionDef):
                        assert inspect.iscoroutinefunction(getattr(runtime, item.name)), \
                            f"{name}.{item.name} should be async"


def test_public_classes_and_functions_are_documented():
    for name in dir(trackstore):
        obj = getattr(trackstore, name)
        if name.startswith("_") or not (inspect.isclass(obj) or callable(obj)):
            continue
        assert (obj.__doc__ or "").strip(), name
    for method in ("find", "column", "column_buffers", "to_dicts", "verify"):
        assert getattr(trackstore.Snapshot, method).__doc__.strip()
    assert "zero-copy" in trackstore.Track.__doc__
