"""Place the offline pip bootstrap where ansible-test looks for its cached get-pip script.

Does nothing when the cache file already exists (for example on a machine with internet
where ansible-test downloaded the real one).
"""
import os
import re
import shutil
import sys

import ansible_test

source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
with open(source, encoding="utf-8") as fh:
    match = re.search(r"pip='([0-9.]+)'", fh.read())
if not match:
    sys.exit("cannot find the pip version ansible-test bootstraps; update tools/install_ansible_test_bootstrap.py")
version = match.group(1)
cache = os.path.expanduser(f"~/.ansible/test/cache/get_pip_{version.replace('.', '_')}.py")
if os.path.exists(cache):
    print(f"ansible-test pip bootstrap present: {cache}")
else:
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "ansible_test_bootstrap.py"), cache)
    print(f"installed offline ansible-test pip bootstrap: {cache}")
