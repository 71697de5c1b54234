"""Print the dependencies declared in pyproject.toml, one per line (used by the Makefile)."""
import sys
import tomllib

with open(sys.argv[1], "rb") as fh:
    project = tomllib.load(fh)["project"]
deps = list(project["dependencies"])
for extra in sys.argv[2:]:
    deps.extend(project["optional-dependencies"][extra])
print("\n".join(deps))
