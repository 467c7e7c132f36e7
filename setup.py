"""ament_python package `ovnerf_ros`; `ovnerf` (the core library) ships in the same distribution."""
from glob import glob

from setuptools import find_packages, setup

package_name = "ovnerf_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=["ovnerf", "ovnerf.*", "ovnerf_ros", "ovnerf_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ovnerf_ros developers",
    maintainer_email="dev@ovnerf.invalid",
    description="Open-vocabulary 3D semantic mapping (OV-NeRF) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "ovnerf = ovnerf.cli:main",
            "ovnerf_mapping_node = ovnerf_ros.main:main_all",
            "ovnerf_collector_node = ovnerf_ros.main:main_collector",
            "ovnerf_trainer_node = ovnerf_ros.main:main_trainer",
        ],
    },
)
