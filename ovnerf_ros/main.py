"""Console entry points: the same nodes the launch file starts, from the same YAML.

    ovnerf_mapping_node   [--ros-args --params-file config/ovnerf.yaml ...]   collector + trainer, one process
    ovnerf_collector_node [--ros-args ...]                                    collector only (robot side)
    ovnerf_trainer_node   [--ros-args ...]                                    trainer/server only (GPU side)

Collector and trainer share nothing but the dataset directory (``output_dir``; on two machines a
shared/synced directory) and DDS: the collector writes keyframes to ``output_dir/scene``
atomically, the trainer reads the store afresh at every Train goal and for every default
camera, and reports the keyframe count in ``/ovnerf/training_status``.

Options (before ``--ros-args``): ``--print-ready`` prints ``READY`` on stdout once the nodes
exist; ``--exit-on-stdin-close`` stops cleanly when stdin reaches EOF (used by tests).
Invalid parameters or an unusable dataset → one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import threading

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException, ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.utilities import remove_ros_args

from ovnerf.errors import UserError
from ovnerf_ros.collector_node import CollectorNode
from ovnerf_ros.trainer_node import TrainerNode


def _run(prog: str, sides: tuple[str, ...], argv=None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--print-ready", action="store_true")
    parser.add_argument("--exit-on-stdin-close", action="store_true")
    opts = parser.parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    nodes = []
    try:
        try:
            if "collector" in sides:
                nodes.append(CollectorNode())
            if "trainer" in sides:
                nodes.append(TrainerNode())
        except (UserError, InvalidParameterValueException, InvalidParameterTypeException, ParameterException) as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        executor = MultiThreadedExecutor(num_threads=6)
        for n in nodes:
            executor.add_node(n)
        if opts.exit_on_stdin_close:
            def watch():
                sys.stdin.read()
                rclpy.try_shutdown()
            threading.Thread(target=watch, daemon=True).start()
        if opts.print_ready:
            print("READY", flush=True)
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return 0
    finally:
        for n in nodes:
            try:
                n.destroy_node()
            except Exception:  # noqa: BLE001 - shutting down
                pass
        rclpy.try_shutdown()


def main_all(argv=None) -> int:
    return _run("ovnerf_mapping_node", ("collector", "trainer"), argv)


def main_collector(argv=None) -> int:
    return _run("ovnerf_collector_node", ("collector",), argv)


def main_trainer(argv=None) -> int:
    return _run("ovnerf_trainer_node", ("trainer",), argv)


if __name__ == "__main__":
    side = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in ("all", "collector", "trainer") else "all"
    sys.exit({"all": main_all, "collector": main_collector, "trainer": main_trainer}[side]())
