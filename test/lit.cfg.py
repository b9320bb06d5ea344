# -*- Python -*-
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "TPC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tpc_obj_root, "test")

config.substitutions.append(("%tpc_src", config.tpc_src_root))
config.substitutions.append(("%tpc_tools", config.tpc_tools_dir))
config.substitutions.append(("%tpc_obj", config.tpc_obj_root))
config.substitutions.append(("%python", "/usr/bin/python3"))
# Node with the npm packages (tokenizer vocabularies, reference tokenizer),
# and the tokenizer.json files built from them.
config.substitutions.append(("%node", config.tpc_node))
config.substitutions.append(("%npm_modules", config.tpc_npm_modules))
config.substitutions.append(("%tokenizers", os.path.join(config.tpc_obj_root, "tokenizers")))
config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP", "PATH"])
llvm_config.use_default_substitutions()
# FileCheck, not, count and split-file live unversioned only in LLVM's bin.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.tpc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["tpc-opt", "tpc-compile", "tpc-comm-selftest", "tpc-tokenize"], tool_dirs)


def _succeeds(command):
    try:
        return subprocess.run(command, capture_output=True, text=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# cuda-device: a GPU the driver shows (tests that REQUIRE it are reported
# UNSUPPORTED, and ctest counts them skipped, where there is none).
_smi = shutil.which("nvidia-smi")
if _smi and _succeeds([_smi, "-L"]):
    config.available_features.add("cuda-device")

# transformers: a python3 with torch, transformers and safetensors, for the
# comparison with Hugging Face's own implementation.
_torch_python = shutil.which("python3")
if _torch_python and _succeeds(
        [_torch_python, "-c", "import torch, transformers, safetensors"]):
    config.available_features.add("transformers")
    config.substitutions.append(("%torch_python", _torch_python))
