"""Every ROS parameter of the ovnerf nodes: name, type, description, validated range / choices.

Every TrainConfig field is reachable as ``training.<field>`` (generated from the dataclass:
``TRAIN_SPECS``; unset = the preset's value, validated by TrainConfig itself); the Train goal
sets iterations / use_rsr / use_cse, and ``training.options`` ('key=value', also ``field.*`` and
``foundation.*``, see :mod:`ovnerf.app.options`) wins over everything.

Defaults come from ``config/ovnerf.yaml`` (the ``/**: ros__parameters:`` section, nested keys
joined with dots); a ``--ros-args --params-file FILE`` given to a node overrides them.
Each parameter is declared with a :class:`ParameterDescriptor` carrying its description and a
``FloatingPointRange`` / ``IntegerRange``; string choices and non-empty strings are checked by an
on-set callback. An invalid value is rejected with a reason — at start-up
(``InvalidParameterValueException`` → the entry point prints one line and exits 2) and at run
time (``ros2 param set`` gets ``successful=False`` and the reason).
"""
from __future__ import annotations

from array import array
from pathlib import Path

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from ovnerf.errors import UserError
from ovnerf.training.config import TrainConfig
from ovnerf_ros.parameter_specs import ALL_BY_NAME, DEFAULT_CONFIG, SPECS, TRAIN_FIELDS, TRAIN_SPECS, Spec


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_defaults(path: str | Path | None = None) -> dict:
    """Flat {name: value} from the ``/**: ros__parameters`` section of a YAML file."""
    path = Path(path or DEFAULT_CONFIG)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read parameter file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a ROS parameter file")
    params = {}
    for section in data.values():  # '/**' and node-specific sections
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            params.update(flatten(section["ros__parameters"]))
    return params


def check_value(spec: Spec, value) -> str | None:
    """None when ``value`` is acceptable for ``spec``, else the reason."""
    if value is None and spec.optional:  # declared without a value
        return None
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.type is list:
        if value is None:  # declared without a value (empty list default)
            return None
        ok = (float, int) if spec.element is float else spec.element
        if not isinstance(value, (list, tuple, array)) or not all(
                isinstance(v, ok) and not isinstance(v, bool) for v in value):
            return f"{spec.name} must be a list of {spec.element.__name__}s"
        return _check_train_field(spec, list(value))
    if not isinstance(value, spec.type) or (spec.type is int and isinstance(value, bool)):
        return f"{spec.name} must be of type {spec.type.__name__}, got {value!r}"
    if spec.range is not None and not (spec.range[0] <= value <= spec.range[1]):
        return f"{spec.name} = {value} is out of range [{spec.range[0]}, {spec.range[1]}]"
    if spec.choices is not None and value not in spec.choices:
        return f"{spec.name} = {value!r} is not one of {list(spec.choices)}"
    if spec.nonempty and isinstance(value, str) and not value.strip():
        return f"{spec.name} must not be empty"
    return _check_train_field(spec, value)


def _check_train_field(spec: Spec, value) -> str | None:
    """TrainConfig's own validation for ``training.<field>`` (the reason when it refuses)."""
    field = spec.name[len("training."):]
    if not spec.name.startswith("training.") or field not in TRAIN_FIELDS:
        return None
    try:
        TrainConfig.cpu_preset().replace(**{field: value})
    except UserError as exc:
        return str(exc)
    return None


def train_values(params: "Parameters") -> dict:
    """{field: value} of the ``training.<field>`` parameters that are set."""
    out = {}
    for f in TRAIN_FIELDS:
        v = params[f"training.{f}"]
        if v is not None:
            out[f] = v
    return out


def _descriptor(spec: Spec) -> ParameterDescriptor:
    desc = spec.description
    if spec.choices:
        desc += f" (one of: {', '.join(spec.choices)})"
    d = ParameterDescriptor(name=spec.name, description=desc)
    if spec.range is not None and spec.type is float:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None and spec.type is int:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return d


class Parameters:
    """Declares the parameters of ``groups`` on ``node`` and reads their live values."""

    def __init__(self, node: Node, groups: tuple[str, ...], defaults: dict | None = None):
        self.node = node
        defaults = load_defaults() if defaults is None else defaults
        self.specs = [s for s in SPECS + TRAIN_SPECS if set(s.groups) & set(groups)]
        node.add_on_set_parameters_callback(self._validate)
        for s in self.specs:
            if s.name not in defaults and not s.optional:
                raise UserError(f"parameter '{s.name}' has no default in {DEFAULT_CONFIG}")
            value = defaults.get(s.name)
            if s.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if s.type is list and value is not None:
                value = [s.element(v) for v in value]
            if value is None or value == []:  # unset, or [] (which has no type): declared by type
                value = _PARAM_TYPES[s.element if s.type is list else s.type, s.type is list]
            node.declare_parameter(s.name, value, _descriptor(s))

    def _validate(self, params) -> SetParametersResult:
        for p in params:
            spec = ALL_BY_NAME.get(p.name)
            if spec is None:
                continue
            reason = check_value(spec, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def __getitem__(self, name: str):
        try:
            v = self.node.get_parameter(name).value
        except ParameterUninitializedException:
            v = None
        spec = ALL_BY_NAME[name]
        if spec.type is list:
            return None if (v is None and spec.optional) else [spec.element(x) for x in (v or [])]
        return v


_PARAM_TYPES = {(bool, False): Parameter.Type.BOOL, (int, False): Parameter.Type.INTEGER,
                (float, False): Parameter.Type.DOUBLE, (str, False): Parameter.Type.STRING,
                (str, True): Parameter.Type.STRING_ARRAY, (int, True): Parameter.Type.INTEGER_ARRAY,
                (float, True): Parameter.Type.DOUBLE_ARRAY}
