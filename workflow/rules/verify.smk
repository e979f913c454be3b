# Verify the trained bundle: verdict.json, a Markdown report and the loss plot (shown by --report).
rule verify_run:
    input:
        done=f"{BUNDLE}/train/DONE",
    output:
        verdict=f"{BUNDLE}/verify/verdict.json",
        report=report(
            f"{BUNDLE}/verify/report.md",
            caption="../report/verdict.rst",
            category="Verdict",
        ),
        plot=report(
            f"{BUNDLE}/verify/loss.png",
            caption="../report/loss.rst",
            category="Verdict",
        ),
    log:
        f"{BUNDLE}/verify/verify_run.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        bundle=lambda wc, input: Path(input.done).parents[1],
    shell:
        "{params.cli} verify {params.bundle} 2>&1 | tee {log}"
