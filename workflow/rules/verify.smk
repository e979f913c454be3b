# Verify the trained bundle: verdict.json, a Markdown and an HTML report, the loss plot (--report shows the
# HTML page, which names the verdict and inlines the plot, plus the plot and the Markdown report).
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
        html=report(
            f"{BUNDLE}/verify/report.html",
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
        "{params.cli} verify {params.bundle:q} 2>&1 | tee {log:q}"
