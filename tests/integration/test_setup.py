"""Set-up without root (issue 13): scripts/install-deps.sh run by a user without root or sudo names
the missing packages and how to skip installing, and exits 2; with every package present it needs no
root at all. Runs as a real unprivileged user (created when the test runs as root)."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402

USER = "fmr-nobody"
SCRIPT = os.path.join(ft.SRC, "scripts", "install-deps.sh")


def as_user(args):
    return subprocess.run(["runuser", "-u", USER, "--", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("runuser"), "needs root to create a user")
class SetupWithoutRootTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", USER], check=True)
        cls.tmp = tempfile.mkdtemp(prefix="fmr-setup-")
        os.chmod(cls.tmp, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_all_present_needs_no_root(self):
        p = as_user(["bash", SCRIPT])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("packages are installed", p.stdout)

    def test_missing_package_names_it_and_the_way_out(self):
        # A copy of the script that also wants a package this machine does not have.
        absent = "fmr-no-such-package"
        with open(SCRIPT) as f:
            text = f.read()
        self.assertIn("build-essential ", text)
        copy = os.path.join(self.tmp, "install-deps.sh")
        with open(copy, "w") as f:
            f.write(text.replace("build-essential ", f"build-essential {absent} ", 1))
        os.chmod(copy, 0o755)
        p = as_user(["bash", copy])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(absent, p.stderr)
        self.assertIn("--no-install", p.stderr)
        self.assertIn("needs root", p.stderr)
        self.assertNotIn("build-essential", p.stderr.split("\n")[1])  # only what is missing


if __name__ == "__main__":
    unittest.main()
