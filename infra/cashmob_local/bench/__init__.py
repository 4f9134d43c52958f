"""`make bench`: cashmob's figures, measured side by side in one run.

1. Settlement vs Stripe's rate limit, and scaling (1,000 vs 10,000 pledges):
   moto and the Stripe emulator run in their own processes; a fresh
   `cashmob local` process per size settles a campaign of N active pledges
   while the emulator enforces Stripe's 25 requests/s per endpoint. Charges/s
   come from the emulator's request log; peak memory is the settling
   process's VmHWM (moto's and the emulator's data live elsewhere).
2. Cost per pledge: the whole local stack in this process; every botocore
   call is counted (botocore's `before-parameter-build` event) and the emulator logs every Stripe
   request, over each pledge's whole life (create, confirm, settle).
3. Cold start: importing and initialising each handler module in a fresh
   interpreter vs `import boto3` alone, median of 11.
4. Hot campaign: 2,000 confirmations of one campaign's pledges delivered
   concurrently; lost/double counts and the busiest DynamoDB item's share.
"""
