"""The core every stage stands on: params, paths, atomic files, errors, offline mode."""
