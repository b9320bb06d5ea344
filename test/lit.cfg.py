# -*- Python -*-
import os

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
config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP", "PATH"])
llvm_config.use_default_substitutions()
# FileCheck, not, count and split-file live unversioned only in LLVM's bin.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.tpc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["tpc-opt", "tpc-compile", "tpc-comm-selftest"], tool_dirs)
