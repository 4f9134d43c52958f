"""Emails to backers: the notifier's templates (`emails`), its use case
(`notifier`) and the SES adapter (`ses`)."""
