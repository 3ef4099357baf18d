"""dvc.yaml as the one place where paths are written: tools outside the pipeline (predict,
the benchmark, the report's terminal summary) look their paths up here."""
import itertools
import shlex
from pathlib import Path

import yaml

from surnames import ladder
from surnames.errors import ProjectError

DVC_YAML = Path("dvc.yaml")


def _document(path: Path, key: str) -> dict:
    """dvc.yaml, parsed, for its `key` section: an error names the section it was read for. A
    YAML error's first line only: the rest is a multi-line excerpt of the file, and the error is
    one line."""
    try:
        document = yaml.safe_load(Path(path).read_text())
        document[key]  # the section it is read for must be there: a KeyError names it
        return document
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        reason = str(error).splitlines()[0]
        raise ProjectError(f"cannot read the {key} of {path} ({reason}); run from the project's root") from None


def _stages(path: Path) -> dict:
    """The stages by name, as DVC expands them: a `foreach` stage is one `<name>@<item>` per
    item of its list, or per key of its mapping, `${item}` (`${key}`) filled in; a `matrix`
    stage one `<name>@<a>-<b>` per combination of its lists' items (a mapping's keys), each
    `${item.<axis>}` filled in. A list or mapping is inline or a `${name}` of the files in
    dvc.yaml's `vars` or of params.yaml."""
    document = _document(path, "stages")
    files = [Path(path).parent / name for name in (*document.get("vars", []), "params.yaml")]
    stages = {}
    for name, entry in document["stages"].items():
        if isinstance(entry, dict) and "foreach" in entry:
            items = _items(entry["foreach"], files)
            placeholder = "${key}" if isinstance(items, dict) else "${item}"
            stages.update({f"{name}@{item}": _filled(entry["do"], placeholder, str(item)) for item in items})
        elif isinstance(entry, dict) and "matrix" in entry:
            stages.update(_matrix(name, entry, files))
        else:
            stages[name] = entry
    return stages


def _matrix(name: str, entry: dict, files: list[Path]) -> dict:
    axes = {axis: list(_items(values, files)) for axis, values in entry["matrix"].items()}
    template = {key: value for key, value in entry.items() if key != "matrix"}
    stages = {}
    for combination in itertools.product(*axes.values()):
        stage = template
        for axis, value in zip(axes, combination):
            stage = _filled(stage, "${item.%s}" % axis, str(value))
        stages[f"{name}@{'-'.join(map(str, combination))}"] = stage
    return stages


def _items(foreach, files: list[Path]) -> list | dict:
    """A foreach's list or mapping: inline, or `${name}` looked up in `files` (DVC refuses a name
    that two of them define, so the first file that has it is the one)."""
    if isinstance(foreach, (list, dict)):
        return foreach
    keys = str(foreach).removeprefix("${").removesuffix("}").split(".")
    for file in files:
        try:
            found = yaml.safe_load(file.read_text())
            for key in keys:
                found = found[key]
            return found
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
    raise ProjectError(f"cannot read {foreach} from {' or '.join(map(str, files))}; run from the project's root")


def _filled(template, placeholder: str, item: str):
    """A foreach stage's `do`, with every placeholder (`${item}` or `${key}`) replaced by the item."""
    if isinstance(template, str):
        return template.replace(placeholder, item)
    if isinstance(template, list):
        return [_filled(value, placeholder, item) for value in template]
    if isinstance(template, dict):
        return {_filled(key, placeholder, item): _filled(value, placeholder, item) for key, value in template.items()}
    return template


def training_stage(model: str) -> str:
    """The stage that trains `model` on its own: train_rnn and train_lstm (the course cells),
    baseline. Every other cell is trained only in the ladder's grid (ladder@<cell>-<lr>)."""
    if model == "baseline" or model in ladder.COURSE:
        return model if model == "baseline" else f"train_{model}"
    raise ProjectError(f"{model} has no training stage of its own: it is trained only in the ladder, by the "
                       f"ladder@{model}-<lr> stages (models/ladder/{model}-<lr>)")


def scoring_stage(model: str) -> str:
    """The stage that scores `model`: score@<cell> for a course cell, score_baseline, score_majority."""
    return f"score@{model}" if model in ladder.COURSE else f"score_{model}"


def artifacts(path: Path = DVC_YAML) -> dict:
    """The model registry's entries (`artifacts:`), by name."""
    return _document(path, "artifacts")["artifacts"] or {}


def stage(name: str, path: Path = DVC_YAML) -> dict:
    plain = _document(path, "stages")["stages"]  # a stage that is not a foreach one needs no vars file
    if isinstance(plain.get(name), dict) and "foreach" not in plain[name]:
        return plain[name]
    stages = _stages(path)
    if name not in stages:
        raise ProjectError(f"{path} has no stage '{name}'")
    return stages[name]


def _paths(entries) -> list[str]:
    """Paths of a deps/outs/metrics list, whose entries are a path or {path: options}."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries or []]


def outs(name: str, path: Path = DVC_YAML) -> list[str]:
    entry = stage(name, path)
    return _paths(entry.get("outs")) + _paths(entry.get("metrics")) + _paths(entry.get("plots"))


def cached_outs(name: str, path: Path = DVC_YAML) -> list[str]:
    """The outs of a stage that go to the DVC cache (not `cache: false`): models and data."""
    entries = stage(name, path).get("outs") or []
    return _paths(e for e in entries if isinstance(e, str) or (next(iter(e.values())) or {}).get("cache", True))


def deps(name: str, path: Path = DVC_YAML) -> list[str]:
    return _paths(stage(name, path).get("deps"))


def _command(name: str, path: Path) -> list[str]:
    words = shlex.split(stage(name, path)["cmd"])
    if words[:2] != ["python", "-m"] or len(words) < 3 or not words[2].startswith("stages."):
        raise ProjectError(f"{path}: stage '{name}' does not run 'python -m stages.<module>'")
    return words


def entry_module(name: str, path: Path = DVC_YAML) -> str:
    """The module a stage runs, e.g. 'stages.train'."""
    return _command(name, path)[2]


def module_args(name: str, path: Path = DVC_YAML) -> list[str]:
    """The arguments a stage's cmd gives its module: what follows `python -m stages.<module>`."""
    return _command(name, path)[3:]


def stage_names(path: Path = DVC_YAML) -> list[str]:
    """The stages in the order dvc.yaml lists them (an order DVC's graph allows)."""
    return list(_stages(path))
