# Two entry points for a newcomer on a fresh Debian machine:
#   make demo   installs everything (apt + venv + pip) and runs the main job
#   make test   installs what is missing and runs the test suite
VENV ?= .venv
PYTHON := $(VENV)/bin/python
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1 libglib2.0-0 libosmesa6 ffmpeg
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export MUJOCO_GL ?= egl

.PHONY: demo test system-packages install

system-packages:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); }

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q torch==2.13.0   # the CPU build; any other torch request downloads CUDA wheels
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $@

install: system-packages $(VENV)/.installed

demo: install
	$(PYTHON) experiments/plan.py env=robosuite-lift

test: install
	$(PYTHON) -m pytest -q
