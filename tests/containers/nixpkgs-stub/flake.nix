{
  # A tiny stand-in for nixpkgs, for `nix flake check --no-build --offline --override-input nixpkgs path:...`
  # where nixpkgs cannot be fetched. It has only the attributes the project's flake.nix may use, each a real
  # (never built) derivation, so evaluation catches a misspelled package or a wrong argument. Every name
  # below exists in nixpkgs 25.05; add one here only after checking it there.
  description = "nixpkgs stub for evaluating flake.nix offline";

  outputs = { self }:
    let
      genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);

      pkgsFor = system:
        let
          # Attributes are strings in a derivation, so every package passed in is evaluated (and a
          # missing one fails the check) without anything being built.
          drv = name: extra: derivation ({
            inherit name system;
            builder = "/bin/sh";
            args = [ "-c" "echo stub > $out" ];
          } // extra);
          plain = genAttrs [
            "python311" "gnumake" "git" "snakemake" "slurm" "munge" "podman" "buildah" "runc"
            "fuse-overlayfs" "mmdebstrap" "ruff" "hadolint" "bash" "coreutils"
          ] (name: drv name { });
        in plain // {
          python311Packages = genAttrs [ "pip" "virtualenv" "pytest" ] (name: drv "python3.11-${name}" { });
          mkShell = { packages ? [ ], shellHook ? "", ... }:
            drv "nix-shell" { inherit packages shellHook; };
          writeShellApplication = { name, text, runtimeInputs ? [ ] }:
            drv name { inherit text runtimeInputs; };
        };
    in {
      lib = { inherit genAttrs; };
      legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
    };
}
