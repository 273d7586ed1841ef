"""The command line as a user meets it (issue 13): `--help` of every command lists every option it
accepts, each with its default where it has one; the man page made from the same tables mentions
every one of them and renders without groff warnings; mistakes are usage errors (exit 2) that name
the option."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fmrtest as ft  # noqa: E402


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.commands = [line.split()[0] for line in ft.run([ft.BIN, "help"]).stdout.splitlines()]
        cls.man = ft.run([ft.BIN, "help", "--man"]).stdout

    def options_of(self, cmd):
        text = ft.run([ft.BIN, cmd, "--help"]).stdout
        self.assertTrue(text.startswith(f"usage: fastmri-regen {cmd}"), text[:80])
        return text, re.findall(r"^  (--[a-z-]+)", text, re.M)

    def test_every_command_has_help_and_is_in_the_man_page(self):
        self.assertEqual(set(self.commands) >= {"run", "verify", "synth", "recon", "annotations",
                                                "version", "help"}, True, self.commands)
        plain = self.man.replace("\\-", "-")
        for cmd in self.commands:
            text, opts = self.options_of(cmd)
            self.assertIn(f".SS {cmd}", self.man)
            for o in opts:
                self.assertIn(f".B {o}", plain, f"{cmd} {o} missing from the man page")

    def test_defaults_shown_are_the_defaults_used(self):
        text, _ = self.options_of("synth")
        self.assertRegex(text, r"--noise X .*\(default: 0\.01\)")
        self.assertRegex(text, r"--anatomy knee\|brain .*\(default: knee\)")
        text, _ = self.options_of("recon")
        self.assertRegex(text, r"--fft-effort estimate\|measure\|patient .*\(default: estimate\)")

    def test_man_page_renders_cleanly(self):
        if not shutil.which("groff"):
            self.skipTest("groff not installed")
        p = subprocess.run(["groff", "-man", "-ww", "-z"], input=self.man, text=True,
                           capture_output=True)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertIn("EXIT STATUS", self.man)
        self.assertIn("output.dir", self.man)  # the config reference is part of it

    def test_mistakes_are_usage_errors_naming_the_option(self):
        for args, needle in [(["synth", "--coils", "999"], "--coils"),
                             (["recon", "--fft-effort", "slow", "a", "b"], "--fft-effort"),
                             (["run", "--bogus", "x.yaml"], "--bogus"),
                             (["verify"], "missing argument"),
                             (["nosuchcommand"], "unknown command")]:
            p = ft.run([ft.BIN, *args], check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(needle, p.stderr, args)

    def test_version(self):
        for args in (["--version"], ["version"]):
            p = ft.run([ft.BIN, *args])
            self.assertTrue(p.stdout.startswith("fastmri-regen "), p.stdout)
            self.assertIn('"hdf5"', p.stdout)


if __name__ == "__main__":
    unittest.main()
